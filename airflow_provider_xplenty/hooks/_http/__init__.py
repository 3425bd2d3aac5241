"""Transport-independent HTTP layer shared by the sync and async Xplenty hooks.

Nothing here does I/O. One module per job:

* :mod:`.endpoints`: the endpoint table (method, path, idempotency of every call);
* :mod:`.config`: connection parsing (:class:`~.config.ClientConfig`, base URL rules, retry extras);
* :mod:`.wire`: requests and responses (:class:`~.wire.ApiRequest`, :func:`~.wire.build`, headers,
  body parsing, the ``Date``, ``Retry-After`` and rate-limit headers);
* :mod:`.errors`: mapping of error responses and transport failures to typed exceptions;
* :mod:`.retry`: the retry classifier and policy (tenacity decides, the hooks' drivers sleep);
* :mod:`.variables`: job variables as the API stores them;
* :mod:`.reconcile`: finding the object a create call made after its response was lost;
* :mod:`.plans`: the control flow of every call, written once as generator *plans*.
"""
