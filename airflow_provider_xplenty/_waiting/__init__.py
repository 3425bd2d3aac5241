"""How the provider waits for a cluster or job to reach a status (internal; import from the modules).

Below the triggers (``triggers.xplenty`` builds on these):

* ``events``: status snapshots, the status history, the event payload and its validation.
* ``transient``: which API errors polling outlives, and for how long.
* ``sources``: status sources: the ``StatusSource`` protocol, one ``GET`` per poll (async and blocking).
* ``shared``: the shared poller: one list call per account per poll for every waiting trigger.
* ``seam``: ``get_status_source``, which picks a source by ``[xplenty] shared_watcher``.
* ``deadlines``: the ``timeout`` / ``execution_timeout`` wall-clock deadlines.
* ``blocking``: ``wait_sync``, the wait in a worker, with the same events as the triggers.

Above the triggers:

* ``task``: what operators and sensors share: the hook, XCom helpers, wait-or-defer.

Nothing here imports operators or sensors.
"""
