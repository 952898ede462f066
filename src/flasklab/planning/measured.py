"""The measured basis (``--from DIR``): each instance a queue fed by what the run measured of the server.

The run covers the request when it measured the server on the scenario of the request's shape with the same ``ms``
(the first scenario of locustfiles/ whose LAB_SCENARIO declares that work: ``io``, blocking I/O only, with an ``ms``:
the ``io`` scenario; ``cpu``, CPU only, with an ``ms``: ``cpu``; ``none``: ``hello``), and at least one usable step of
it (flasklab.core.analysis: not generator-bound, failures <= 1 %, steady, stable, enough samples) met the objective.
The plan is then a prediction, not a reading of the curve: the service time, the slots and the CPU per request
(flasklab.planning.service) make each instance an M/G/c queue fed Poisson arrivals at R / N, or a processor-sharing
one when time-sliced requests take turns on the cores (flasklab.planning.queueing; ``async`` servers run each
request's CPU work to its end, first come first served). Instances = the fewest N whose predicted p95 meets the
objective with the slots busy at most ``--max-utilisation``, the CPU within it and no instance offered more than it was
measured completing (its peak, or a lower bound above it: a model fitted at light load can promise more); a thin basis
must meet it with THIN_MARGIN to spare. An open-model run also bounds N from below by its curve: R / the highest
throughput a stable step kept up with (its completions per second, not the rate offered) within the objective. The
expected p95 and p99 are the model's at R / N; the closed loop's capacity step within the objective is shown beside
them as a check. ``flasklab plan --verify`` runs one instance at its share (whole rps) and judges the model's
prediction at that rate (within 25 % of the measured p95: flasklab.planning.verify) as well as the objective.
"""

from __future__ import annotations

import math

from flasklab.core.analysis import TargetAnalysis, analyse, load_text
from flasklab.core.results import Results, Step, Target
from flasklab.planning.option import MAX_INSTANCES, Option, fewest, ms, number
from flasklab.planning.queueing import Prediction
from flasklab.planning.request import PlanRequest, Workload
from flasklab.planning.service import ServiceBasis, service_basis

# A thin basis (quick profile, few service-time samples, a wide interval): its prediction must leave this margin.
THIN_MARGIN = 1.25


def coverage(target: Target | None, run: Results, work: Workload, p95_ms: float) -> str | None:
    """Why the run does not cover the request for this server (None: it does)."""
    if work.scenario is None:
        return "no lab scenario both waits and computes"
    if target is None:
        return f"not measured on {work.scenario}"
    if target.status != "ok":
        return f"{work.scenario} {target.status}" + (f": {target.error}" if target.error else "")
    measured_ms = target.params.get("ms")
    if work.ms is not None and (measured_ms is None or not math.isclose(measured_ms, work.ms)):
        return f"it measured {work.scenario} at ms={measured_ms}, the request is ms={work.ms:g}"
    if analyse(target, run.meta).capacity(p95_ms) is None:
        return f"no usable step of {work.scenario} met p95 <= {p95_ms:g} ms"
    return None


def open_curve_rate(analysis: TargetAnalysis, p95_ms: float) -> Step | None:
    """Open model: the usable step (stable: its backlog did not grow) with the most throughput that met the
    objective. Its completions per second are what one instance kept up with; the rate offered to it is only what
    was asked, and a server a little behind it can still pass a short window's other checks."""
    met = [s for s in analysis.within_slo(p95_ms) if s.offered_rps is not None and s.unstable is not True]
    return max(met, key=lambda s: s.rps, default=None)


def measured_ceiling(analysis: TargetAnalysis) -> Step | None:
    """The most one instance was measured completing: its peak, or a lower bound of its capacity above it. A plan
    never puts more on an instance than that, whatever the model predicts: a model fitted at low load (CPU per
    request at one user) can promise rates the server was never seen to serve, and the lab vouches only for what it
    measured. A curve still climbing at the profile's most users (gevent on io) holds a plan to its top as well:
    a run with more users measures further."""
    return analysis.lower_bound or analysis.peak


def measured_option(analysis: TargetAnalysis, run: Results, request: PlanRequest, law: Option, cpus: float) -> Option:
    """The fewest instances whose M/G/c prediction (the measured service time, the slots, Poisson arrivals at R / N
    each) meets the objective at no more than the utilisation target; with open-model steps, also no fewer than the
    measured curve needs. A thin basis must meet the objective with THIN_MARGIN to spare."""
    option = Option(
        analysis.target.server, law.kind, "measured", covered=True, run_dir=run.meta.run_id, law_instances=law.instances
    )
    basis = service_basis(analysis, run, cpus, law.kind)
    if basis is None:
        option.reason = "no usable step with a service time (p50, p95, p99, max and mean)"
        return option
    describe_basis(option, basis, analysis)
    objective = request.p95_ms / (THIN_MARGIN if basis.thin else 1.0)
    if basis.service.quantile(0.95) > objective:
        option.reason = (
            f"cannot: a request alone takes {ms(basis.service.quantile(0.95))} ms at p95 (measured at "
            f"{load_text(basis.step)}){' with the thin-basis margin' if basis.thin else ''}"
        )
        return option
    instances = fewest_predicted(basis, request, cpus, objective, measured_ceiling(analysis))
    if instances is None:
        option.reason = f"cannot within {MAX_INSTANCES:,} instances"
        return option
    curve = open_curve_rate(analysis, objective) if run.meta.model == "open" else None
    if curve is not None and curve.rps > 0:
        instances = max(instances, curve_instances(request, curve))
    budget = request.mem_per_instance_mb
    if budget is not None and option.memory_mb is not None and option.memory_mb > budget:
        option.reason = f"cannot: an instance used {number(option.memory_mb)} MiB, over the {number(budget)} MiB asked"
        return option
    found = basis.predict(request.share(instances))
    assert found is not None  # the prediction met the objective at this count or fewer instances
    offer(option, basis, found, instances)
    capacity = analysis.capacity(request.p95_ms)
    option.capacity_rps = capacity.rps if capacity is not None else None
    option.reason = measured_reason(option, basis, found, curve, analysis, request)
    return option


def curve_instances(request: PlanRequest, curve: Step) -> int:
    """The fewest instances none of which is offered more than the open-model curve kept up with (``curve.rps``)."""
    return fewest(lambda instances: request.share(instances) <= curve.rps + 1e-9, MAX_INSTANCES) or MAX_INSTANCES


def describe_basis(option: Option, basis: ServiceBasis, analysis: TargetAnalysis) -> None:
    """What the option's model is made of: the service time, the slots, the configuration and its memory."""
    concurrency = analysis.target.concurrency
    option.service_mean_ms, option.service_scv = basis.service.mean_ms, basis.service.scv
    option.service_points = list(basis.service.points)
    option.shared_admitted, option.shared_cores = basis.sharing or (None, None)
    option.slots, option.thin_basis, option.workers = basis.slots, basis.thin, concurrency
    option.memory_mb = max((s.server_rss_mb for s in analysis.usable if s.server_rss_mb is not None), default=None)
    option.shape = f"{'unbounded' if concurrency is None else concurrency} configured"


def fewest_predicted(
    basis: ServiceBasis, request: PlanRequest, cpus: float, objective: float, ceiling: Step | None
) -> int | None:
    """The fewest instances at whose share each one is measured to manage (``ceiling``), its CPU and its predicted
    slots busy at most the utilisation target, and its predicted p95 within ``objective`` (None: no count does)."""

    def meets(instances: int) -> bool:
        rate = request.share(instances)
        if ceiling is not None and rate > ceiling.rps:
            return False
        if basis.cpu_ms is not None and rate * basis.cpu_ms / 1000 > request.max_utilisation * cpus:
            return False
        found = basis.predict(rate)
        return found is not None and found.utilisation <= request.max_utilisation and found.p95_ms <= objective

    return fewest(meets, MAX_INSTANCES)


def offer(option: Option, basis: ServiceBasis, found: Prediction, instances: int) -> None:
    """The option's answer: its instances and what the model predicts for each at its share."""
    option.instances, option.n_plus_one, option.rps_per_instance = instances, instances + 1, found.rate_rps
    option.utilisation, option.expected_p95_ms, option.expected_p99_ms = found.utilisation, found.p95_ms, found.p99_ms
    option.total_workers = None if option.workers is None else instances * option.workers
    option.cpu_ms_per_request = basis.cpu_ms
    option.cpu_source = f"measured at {load_text(basis.step)}" if basis.cpu_ms is not None else ""


def measured_reason(
    option: Option,
    basis: ServiceBasis,
    found: Prediction,
    curve: Step | None,
    analysis: TargetAnalysis,
    request: PlanRequest,
) -> str:
    """The numbers behind a measured option, as one sentence."""
    service = basis.service
    text = (
        f"{option.instances} instance(s) at {number(found.rate_rps)} rps each: service time measured at "
        f"{load_text(basis.step)} ({basis.samples} samples): mean {ms(service.mean_ms)} ms, p95 "
        f"{ms(service.quantile(0.95))} ms, SCV {service.scv:.2f}; {queue_text(basis, found)} with Poisson arrivals: "
        f"utilisation {found.utilisation:.0%} (target <= {request.max_utilisation:.0%}), predicted p95 "
        f"{ms(found.p95_ms)} ms, p99 {ms(found.p99_ms)} ms"
    )
    if curve is not None:
        text += (
            f"; the open-model curve kept up with {number(curve.rps)} rps within the objective (at "
            f"{load_text(curve)}): at least {curve_instances(request, curve)} instance(s)"
        )
    if (capacity := analysis.capacity(request.p95_ms)) is not None:
        loop = "closed-loop " if capacity.offered_rps is None else ""
        text += f"; {loop}capacity within the objective: {number(capacity.rps)} rps at {load_text(capacity)}"
    if (ceiling := measured_ceiling(analysis)) is not None:
        seen = f"{number(ceiling.rps)} rps one instance was measured completing (at {load_text(ceiling)})"
        text += f"; never above the {seen}"
    if basis.thin:
        text += f"; thin basis ({'; '.join(basis.thin)}): planned to {ms(request.p95_ms / THIN_MARGIN)} ms"
    if option.law_instances is not None:
        text += f"; the law plans {option.law_instances}"
    return text


def queue_text(basis: ServiceBasis, found: Prediction) -> str:
    """The queue model a measured option used, in words."""
    if basis.sharing is not None:
        admitted, cores = basis.sharing
        return (
            f"processor sharing: up to {admitted} requests at once take turns on {cores:.2g} core(s) "
            f"({basis.slots_reason}; time-sliced: simulated), {found.wait_probability:.0%} queue to be admitted"
        )
    return (
        f"{basis.slots} slots ({basis.slots_reason}); M/G/c, {found.wait_probability:.0%} of requests wait for a slot"
    )
