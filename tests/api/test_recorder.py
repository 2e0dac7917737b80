"""History and taste writes run after the response, in the order asked, and never pile up."""

import threading

from api.recorder import Recorder


def test_writes_wait_for_room_and_none_is_lost_or_reordered():
    recorder = Recorder(waiting=2)
    written, most_pending = [], []

    def write(producer: int, i: int) -> None:
        most_pending.append(recorder.pending)
        written.append((producer, i))

    def produce(producer: int) -> None:
        for i in range(25):
            recorder.record(write, producer, i)

    producers = [threading.Thread(target=produce, args=(p,)) for p in range(8)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    assert recorder.wait_idle()
    recorder.close()

    assert len(written) == 200 and max(most_pending) <= 2
    for producer in range(8):
        assert [i for p, i in written if p == producer] == list(range(25))


def test_forgetting_waits_for_the_writes_asked_before_it():
    """DELETE /api/me/history waits so: a search made just before would come back after it."""
    recorder = Recorder()
    database_free, written = threading.Event(), []
    recorder.record(lambda: database_free.wait(30) and written.append("the search just made"))
    threading.Timer(0.2, database_free.set).start()  # the write is slow (a busy database)
    recorder.wait_for_earlier()
    assert written == ["the search just made"]
    recorder.close()
