"""Keep full garbage collections short in a triggerer: freeze the process's start-up heap, once.

A full collection (CPython's oldest generation) walks every container object the process tracks and
blocks the event loop meanwhile. In a triggerer most of them are the import graph of Airflow and its
libraries (about 160,000 objects with the provider loaded: 100-300 ms per full collection on a
2-core machine, docs/scale.md "The event loop"), which live as long as the process and never become
garbage. A full collection runs whenever the objects that survived younger collections since the
last one exceed a quarter of the old ones: a few hundred new triggers do that.

``gc.freeze()`` moves every object alive now to the permanent generation, which collections skip;
later full collections walk only what was created afterwards (the triggers and their state). Airflow
does the same in its DAG processor before its parsing loop. It is done once per process, when the
first shared poller starts (``[xplenty] gc_freeze``, default on): any garbage cycle alive at that
moment is never freed, a one-time cost that freezing again would repeat.
"""

from __future__ import annotations

import gc

from airflow_provider_xplenty._compat import conf

_frozen = False


def freeze_startup_heap() -> bool:
    """Freeze the objects alive now, the first time this is called in the process; return whether it did.

    Off with ``[xplenty] gc_freeze = False`` (env ``AIRFLOW__XPLENTY__GC_FREEZE``).
    """
    global _frozen
    if _frozen or not conf.getboolean("xplenty", "gc_freeze", fallback=True):
        return False
    _frozen = True
    gc.freeze()
    return True
