"""The control flow of every call, written once as generator *plans* and run by a sync or async driver.

A plan yields the requests to send (the driver answers with a :class:`RawResponse` or a
:class:`TransportFailure`) and the waits to make (the driver sleeps and answers ``None``), and
returns the call's result. :class:`Plans` holds the plans of single calls (the retry loop, the
recheck after a lost response, adopt-or-resend for creates, look-ups); multi-call flows compose them
with ``yield from``. The sync hook drives plans with ``requests`` and ``time.sleep``, the async hook
with ``httpx`` and ``asyncio.sleep``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from tenacity import DoAttempt, DoSleep, RetryCallState

from airflow_provider_xplenty.exceptions import XplentyAmbiguousMatchWarning, XplentyApiError
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.errors import (
    api_error,
    gave_up_error,
    transport_error,
    unknown_outcome_error,
    unresolved_create_error,
)
from airflow_provider_xplenty.hooks._http.reconcile import Floor, Reconciler, claim
from airflow_provider_xplenty.hooks._http.retry import Log, RetryableError, RetryPolicy, classify
from airflow_provider_xplenty.hooks._http.wire import (
    PAGE_LIMIT,
    ApiRequest,
    RawResponse,
    TransportFailure,
    page,
    parse_as,
    parse_body,
    rate_limit_remaining,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Op(Generic[T]):
    """One call: the request, the parser of its body, and its duplicate/lost-response handling."""

    request: ApiRequest
    parse: Callable[[Any], T]
    reconciler: Reconciler[T] | None = None
    #: After a lost DELETE response, a 422 may mean "already done": re-read with this request ...
    recheck: ApiRequest | None = None
    #: ... and accept the object when this says it is already in the requested state.
    accept: Callable[[T], bool] | None = None


@dataclass(frozen=True)
class ListOp(Generic[T]):
    """A paged list call: the request of its first page and the parser of each item."""

    request: ApiRequest
    parse: Callable[[Any], T]


@dataclass(frozen=True)
class Wait:
    """A plan step: sleep this many seconds before the next request."""

    seconds: float


#: What a plan yields: a request to send, or a wait.
Step: TypeAlias = ApiRequest | Wait
#: What the driver sends back into the plan: the transport's outcome of a request, ``None`` after a wait.
Outcome: TypeAlias = RawResponse | TransportFailure | None
#: A call's control flow: yields steps, receives outcomes, returns the call's result.
Plan: TypeAlias = Generator[Step, Outcome, T]


class PlanRunner(Generic[T]):
    """Step through a plan for a driver: :meth:`next_step` until it returns ``None``, then ``result``."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.result: T

    def next_step(self, outcome: Outcome) -> Step | None:
        """Send the outcome of the previous step; return the next step, or ``None`` when the plan is done."""
        try:
            return self._plan.send(outcome)
        except StopIteration as done:
            self.result = done.value
            return None


def observed(plan: Plan[T], seen: Callable[[Outcome], None]) -> Plan[T]:
    """Run ``plan`` unchanged, showing ``seen`` every outcome the driver sends into it (to read headers)."""
    runner = PlanRunner(plan)
    outcome: Outcome = None
    while (step := runner.next_step(outcome)) is not None:
        outcome = yield step
        seen(outcome)
    return runner.result


class Pager:
    """Offset paging (``limit=100`` until a short page), for the hooks' lazy iterators and look-ups."""

    def __init__(self, request: ApiRequest) -> None:
        self.request = request
        self.offset: int | None = 0

    def next_request(self) -> ApiRequest | None:
        """Return the request for the next page, or ``None`` after the last one."""
        return None if self.offset is None else page(self.request, self.offset)

    def take(self, data: Any) -> list[Any]:
        """Check a page's body and advance; return its items."""
        if not isinstance(data, list):
            raise XplentyApiError(200, "expected a JSON array", self.request.method, self.request.path)
        if self.offset is not None:
            self.offset = None if len(data) < PAGE_LIMIT else self.offset + len(data)
        return data


class Plans:
    """The plans of single calls (retry loop, unknown-outcome recheck, adopt-or-resend, look-ups).

    Each method returns a :data:`Plan`; see the module docstring for how drivers run them.

    :param cfg: connection settings (for error messages).
    :param policy: retry bounds and back-off.
    :param log: the hook's logger.
    """

    def __init__(self, cfg: ClientConfig, policy: RetryPolicy, log: Log) -> None:
        self.cfg = cfg
        self.policy = policy
        self.log = log

    # -- one attempt ---------------------------------------------------------------------------
    def exchange(self, request: ApiRequest) -> Plan[Any]:
        """Send ``request`` once; return the parsed body, or raise the mapped (maybe retryable) error."""
        outcome = yield request
        if isinstance(outcome, TransportFailure):
            raise self._failure(request, outcome)
        assert isinstance(outcome, RawResponse), "the driver answers a request with its outcome"
        if rate_limit_remaining(outcome) == 0 and outcome.status < 400:
            self.log.warning(
                "Xplenty rate limit: no credits left in this hour's budget; next calls may get 429"
            )
        if 200 <= outcome.status < 300:
            return parse_body(request, outcome)
        error = api_error(self.cfg, request, outcome)
        decision = classify(request.endpoint, outcome)
        if decision.retry:
            raise RetryableError(error, decision)
        raise error

    @staticmethod
    def _failure(request: ApiRequest, failure: TransportFailure) -> Exception:
        error = transport_error(request, failure)
        decision = classify(request.endpoint, failure)
        if decision.retry:
            return RetryableError(error, decision)
        return unknown_outcome_error(request, error) if decision.unknown_outcome else error

    # -- the retry loop ------------------------------------------------------------------------
    def retried(
        self,
        request: ApiRequest,
        attempt: Callable[[], Plan[T]],
        last_resort: Callable[[], Plan[T | None]] | None = None,
    ) -> Plan[T]:
        """Run ``attempt`` until it succeeds or raises a non-retryable error, within the policy's bounds.

        tenacity decides (:meth:`RetryPolicy.retrying`); this drives its state machine the way
        ``tenacity.Retrying.__call__`` does, except that an attempt is a sub-plan and a sleep is a
        yielded :class:`Wait`, so the hook's driver does the sending and the sleeping.

        When the bounds are reached, ``last_resort`` (if any) may still return a result; otherwise
        the last error is raised with the number of attempts and the time spent.
        """
        retrying = self.policy.retrying(request, self.log)
        retrying.begin()
        state = RetryCallState(retrying, fn=None, args=(), kwargs={})
        while True:
            try:
                do = retrying.iter(state)
            except RetryableError as exc:  # tenacity stopped (reraise=True): attempts or time used up
                if last_resort is not None:
                    found = yield from last_resort()
                    if found is not None:
                        return found
                raise self._give_up(request, exc, state.start_time, state.attempt_number) from None
            if isinstance(do, DoAttempt):
                try:
                    result = yield from attempt()
                except Exception as exc:  # BaseException (GeneratorExit, cancellation) is never retried
                    state.set_exception((type(exc), exc, exc.__traceback__))
                else:
                    state.set_result(result)
            elif isinstance(do, DoSleep):
                state.prepare_for_next_attempt()
                yield Wait(float(do))
            else:  # the result, or tenacity has raised the last (non-retryable) error
                return do

    def _give_up(
        self, request: ApiRequest, exc: RetryableError, started: float, attempts: int
    ) -> XplentyApiError:
        elapsed = time.monotonic() - started
        self.log.error(
            "Xplenty API %s %s failed: %s; giving up after %d attempt(s) in %.1f s",
            request.method,
            request.path,
            exc.decision.reason,
            attempts,
            elapsed,
        )
        return gave_up_error(exc.error, attempts, elapsed)

    # -- calls ---------------------------------------------------------------------------------
    def send(self, request: ApiRequest) -> Plan[Any]:
        """Send ``request`` with retries; return the parsed JSON body."""
        return (yield from self.retried(request, lambda: self.exchange(request)))

    def call(self, op: Op[T]) -> Plan[T]:
        """Run one public method's call: plain, with a recheck after a lost response, or a create."""
        if op.reconciler is not None:
            return (yield from self._create(op, op.reconciler))
        unknown = False  # an earlier attempt may have been carried out

        def attempt() -> Plan[T]:
            nonlocal unknown
            try:
                return parse_as(op.parse, op.request, (yield from self.exchange(op.request)))
            except RetryableError:
                unknown = True
                raise
            except XplentyApiError as exc:
                if unknown and exc.status_code == 422 and op.recheck and op.accept:
                    current = parse_as(op.parse, op.recheck, (yield from self.send(op.recheck)))
                    if op.accept(current):
                        return current
                raise

        return (yield from self.retried(op.request, attempt))

    def collect(self, op: ListOp[T]) -> Plan[list[T]]:
        """Read every page of a list call; return all its items, parsed."""
        pager, items = Pager(op.request), []
        while (request := pager.next_request()) is not None:
            data = yield from self.send(request)
            items += [parse_as(op.parse, op.request, item) for item in pager.take(data)]
        return items

    def _create(self, op: Op[T], reconciler: Reconciler[T]) -> Plan[T]:
        """Create without duplicates: after an unknown outcome, adopt what the call made, else resend.

        After an unknown outcome the look-ups keep going, within the policy's bounds, until they give an
        answer: each is one attempt of the call's retry loop (a 429 on a look-up waits and retries like
        one on the create). Before re-sending, the hook looks again for a short while (a slow server may
        still be acting); after a re-send it watches for a late duplicate made by the lost request until
        the late-create window ends, and cancels it. When the bounds are reached with the outcome still
        unknown, :class:`~airflow_provider_xplenty.exceptions.XplentyUnknownOutcomeError` is raised.
        """
        # What exists now (1 credit): anything newer that matches is ours after a lost response.
        floor = Reconciler.floor((yield from self.send(reconciler.snapshot_request())))
        window = self.policy.late_window(self.cfg.read_timeout)
        unknown_since: float | None = None  # when an attempt first got no definite answer
        sends = 0

        def attempt() -> Plan[T]:
            nonlocal unknown_since, sends
            if unknown_since is not None:
                found = yield from self._settle(reconciler, floor, unknown_since, window)
                if found is not None:
                    return found
                self.log.warning(
                    "Xplenty: no %s found after the unknown outcome of %s %s; sending it again",
                    reconciler.describe,
                    op.request.method,
                    op.request.path,
                )
            sends += 1
            try:
                result = parse_as(op.parse, op.request, (yield from self.exchange(op.request)))
            except RetryableError as exc:
                if exc.decision.unknown_outcome and unknown_since is None:
                    unknown_since = time.monotonic()
                raise
            claim(self.cfg.api_root, reconciler.resource, getattr(result, "id", None))
            return result

        def last_resort() -> Plan[T | None]:
            if unknown_since is None:
                return None
            try:
                return (yield from self._find(reconciler, floor))
            except (RetryableError, XplentyApiError):
                return None

        try:
            result = yield from self.retried(op.request, attempt, last_resort)
        except XplentyApiError as exc:
            if unknown_since is None:
                raise
            self.log.error(
                "Xplenty: gave up on %s %s with its outcome unknown: a %s (id above %s) may exist",
                op.request.method,
                op.request.path,
                reconciler.describe,
                floor.max_id,
            )
            raise unresolved_create_error(
                op.request,
                exc,
                reconciler.resource,
                reconciler.describe,
                dict(reconciler.identity),
                floor.max_id,
            ) from exc
        if unknown_since is not None and sends > 1:
            yield from self._watch_late_duplicates(reconciler, floor, unknown_since + window)
        return result

    def _poll_interval(self) -> float:
        """Seconds between look-ups while a slow server may still act (read timeout / 4, 0.5 to 5 s)."""
        return min(5.0, max(0.5, self.cfg.read_timeout / 4))

    def _settle(self, reconciler: Reconciler[T], floor: Floor, since: float, window: float) -> Plan[T | None]:
        """Look for the object a lost create made, again every few seconds for a short while.

        A server slower than the read timeout may still be acting: re-sending at once would make a
        twin. The looking lasts two poll intervals (within the late-create window).
        """
        until = since + min(window, 2 * self._poll_interval())
        while True:
            found = yield from self._find(reconciler, floor)
            if found is not None or time.monotonic() >= until:
                return found
            self.log.info(
                "Xplenty: no %s yet after an unknown outcome; looking again in %.1f s before re-sending",
                reconciler.describe,
                self._poll_interval(),
            )
            yield Wait(self._poll_interval())

    def _watch_late_duplicates(self, reconciler: Reconciler[T], floor: Floor, until: float) -> Plan[None]:
        """Until ``until`` (monotonic), look for objects the lost request made late, and cancel them.

        Best effort: the object this call returns already exists, so a failed look-up only ends the
        watch, with a warning naming what to check.
        """
        self.log.info(
            "Xplenty: watching %.1f s for a late duplicate %s made by the lost request",
            max(0.0, until - time.monotonic()),
            reconciler.describe,
        )
        while True:
            try:
                twins = yield from self._candidates(reconciler, floor, use_retries=True)
            except XplentyApiError as exc:
                self.log.warning(
                    "Xplenty: could not check for a late duplicate %s (id above %s): %s; check for one",
                    reconciler.describe,
                    floor.max_id,
                    exc,
                )
                return
            for twin in twins:
                twin_id = _int_id(twin)
                claim(
                    self.cfg.api_root, reconciler.resource, twin_id
                )  # no other call of this process may adopt it
                if reconciler.cancel is None:
                    self.log.warning("Xplenty: late duplicate %s %s found", reconciler.resource, twin_id)
                    continue
                verb = "stopped" if reconciler.resource == "job" else "terminated"
                try:
                    yield from reconciler.cancel(twin_id)(self)
                except XplentyApiError as exc:
                    self.log.error(
                        "Xplenty: could not cancel late duplicate %s %s created by the lost request: %s",
                        reconciler.resource,
                        twin_id,
                        exc,
                    )
                    continue
                self.log.warning(
                    "Xplenty: %s late duplicate %s %s created by the lost request",
                    verb,
                    reconciler.resource,
                    twin_id,
                )
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            yield Wait(min(self._poll_interval(), remaining))

    def _candidates(
        self, reconciler: Reconciler[T], floor: Floor, *, use_retries: bool = False
    ) -> Plan[list[Mapping[str, Any]]]:
        """Return every unclaimed object above ``floor`` that carries what the call sent, oldest first.

        Each page is one attempt (a retryable failure raises
        :class:`~airflow_provider_xplenty.hooks._http.retry.RetryableError` for the caller's retry
        loop), or, with ``use_retries``, a call with retries of its own.
        """
        pager, found = Pager(reconciler.request_after(floor)), list[Mapping[str, Any]]()
        while (request := pager.next_request()) is not None:
            data = yield from (self.send(request) if use_retries else self.exchange(request))
            for item in pager.take(data):
                picked = reconciler.pick(item, floor, self.cfg.api_root)
                if picked is None:
                    return sorted(found, key=_int_id)
                if picked:
                    found.append(item)
        return sorted(found, key=_int_id)

    def _find(self, reconciler: Reconciler[T], floor: Floor) -> Plan[T | None]:
        """Return (and claim) the object a create call made after ``floor``, if there is one.

        When several unclaimed objects match, the oldest is adopted (the lost request was sent before
        any later identical one), and the choice is logged and warned about
        (:class:`~airflow_provider_xplenty.exceptions.XplentyAmbiguousMatchWarning`).
        """
        candidates = yield from self._candidates(reconciler, floor)
        if not candidates:
            return None
        chosen = candidates[0]
        if len(candidates) > 1:
            ids = ", ".join(str(_int_id(c)) for c in candidates)
            message = (
                f"Xplenty: after a lost create response, {len(candidates)} objects match the "
                f"{reconciler.describe} this call sent (ids {ids}); adopting the oldest, {_int_id(chosen)}: "
                "the others may belong to another caller sending the same request"
            )
            self.log.warning(message)
            warnings.warn(message, XplentyAmbiguousMatchWarning, stacklevel=2)
        self.log.warning(
            "Xplenty: the response to a create call was lost; adopting the existing %s (id %s) "
            "instead of creating a duplicate",
            reconciler.describe,
            _int_id(chosen),
        )
        claim(self.cfg.api_root, reconciler.resource, _int_id(chosen))
        return parse_as(reconciler.parse, reconciler.lookup, chosen)


def _int_id(item: Mapping[str, Any]) -> int:
    try:
        return int(item.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


#: A call or a multi-call flow, ready to run: given the :class:`Plans` of a connection, its plan.
Flow: TypeAlias = Callable[[Plans], Plan[T]]
