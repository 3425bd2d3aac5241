"""The emulator's routes, one module per resource; each ``build_router(store)`` returns a router.

API routers (paths relative to ``/{account}/api``, behind the gate): :mod:`.account`,
:mod:`.clusters`, :mod:`.watchers`, :mod:`.jobs`, :mod:`.packages`, :mod:`.schedules`, :mod:`.hooks`.
Outside the API: :mod:`.control` (``/_emulator/``) and :mod:`.pages` (HTML pages, ``/``).
"""
