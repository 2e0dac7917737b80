"""History and taste writes run after the response, in the order asked, in batches, and never pile up."""

import threading

from api.recorder import Recorder


def test_writes_wait_for_room_and_none_is_lost_or_reordered():
    written, most_pending = [], []

    def write(batch) -> None:
        most_pending.append(recorder.pending)
        written.extend(batch)

    recorder = Recorder(write, waiting=2)

    def produce(producer: int) -> None:
        for i in range(25):
            recorder.record((producer, i))

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


def test_what_comes_together_is_written_together_without_anyone_waiting():
    batches, written = [], threading.Event()

    def write(batch) -> None:
        batches.append(list(batch))
        written.set()

    recorder = Recorder(write, linger=1.0)
    for i in range(5):
        recorder.record(i)
    assert written.wait(30), "a lone burst was never written"
    assert batches == [[0, 1, 2, 3, 4]] and recorder.pending == 0
    recorder.close()


def test_forgetting_waits_for_the_writes_asked_before_it():
    """DELETE /api/me/history waits so: a search made just before would come back after it."""
    database_free, written = threading.Event(), []
    recorder = Recorder(lambda batch: database_free.wait(30) and written.extend(batch), linger=60)
    recorder.record("the search just made")
    threading.Timer(0.2, database_free.set).start()  # the write is slow (a busy database)
    recorder.wait_for_earlier()  # and it does not wait out the linger: it writes at once
    assert written == ["the search just made"]
    recorder.close()


def test_closing_writes_what_waits():
    written = []
    recorder = Recorder(written.extend, linger=60)
    recorder.record("a click")
    recorder.close()
    assert written == ["a click"]


def test_a_person_waits_for_their_own_writes_only_and_has_them_written_at_once():
    written = []
    recorder = Recorder(written.extend, linger=60)
    recorder.record("ana's search", who="ana")
    recorder.wait_for_earlier("bob")  # bob has nothing waiting: no wait, and ana's still lingers
    assert written == [] and recorder.pending == 1
    recorder.wait_for_earlier("ana")  # her feed or history next: written now, not in 60 s
    assert written == ["ana's search"]
    recorder.close()
