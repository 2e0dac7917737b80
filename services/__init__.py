"""What findimage does when asked, with I/O: take an image in, queue work, search and record
it, like, hide, build the feed. The front doors (``api``, ``bot``, ``worker``) call these;
below them are ``recommender`` (pure math) and ``core`` (the parts)."""
