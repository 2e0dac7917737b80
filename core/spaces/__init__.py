"""Vector spaces: the generations of vectors, each a CLIP model and the collection its
vectors live in (``findimage reindex`` builds a new one beside the active one, then
switches).

- ``records``: the spaces as the database records them, and the switch;
- ``live``: the spaces one process has open (``LiveSpaces``: the active one, the one being
  built, those just retired), following the records;
- ``watcher``: the thread that keeps a process's live spaces in step with the records.
"""
