"""`--runner dask`: Beam's DaskRunner on a dask.distributed cluster, with three of its defects mended.

Beam's DaskRunner (apache_beam.runners.dask, Beam 2.77) translates a pipeline into dask bags. Three things
it does would lose or mix our outputs silently; each is shown on the stock runner by tests/beam/test_dask.py:

1. Only the graph of the *last* transform visited is computed: a pipeline with several sinks (TFDS writes a
   split per branch; embed writes tables, errors and notes) runs one of them. Here every bag that nothing
   consumes is computed.
2. A multi-output ParDo (`with_outputs`) hands *all* its outputs to every consumer, tagged or not. Here each
   consumer gets the outputs of its own tag.
3. What a DoFn emits in `finish_bundle` is dropped (the outputs are read before it runs): Beam's file sinks
   report their written files there, and BatchElements its last batch. Here the outputs are read after it.

And one that costs time: a side input is computed inside each task that reads it (`list(bag)`), upstream
graph and all, so TFDS's build (five side inputs) decoded every file 7 to 17 times. Here a side input is a
dependency of the tasks that read it, computed once.

Everything else is Beam's: the translation of Create, ParDo, GroupByKey and Flatten, the side inputs, the
overrides. `LocalCluster` or a running scheduler is chosen by `dask_engine`; a worker lost mid-run has its
tasks rerun by dask elsewhere. Not supported by the DaskRunner (so not used by our pipelines): `beam.io.Read`
sources (ReadFromText, ReadFromParquet: the listing is read by a FlatMap over its shard files instead),
stateful DoFns, timers, metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os

# Beam's DaskOptions: key -> its flag (`--beam-option dask_npartitions=8` or `npartitions=8` alike)
DASK_FLAGS = {
    "address": "dask_client_address",
    "timeout": "dask_connection_timeout",
    "scheduler_file": "dask_scheduler_file",
    "name": "dask_client_name",
    "connection_limit": "dask_connection_limit",
    "npartitions": "dask_npartitions",
    "partition_size": "dask_partition_size",
}


def _run_bundle(items, fn, window_fn, label, side_specs, args, kwargs, *side_values):
    """One dask partition as one Beam bundle; outputs gathered after finish_bundle (defect 3), tagged ones
    kept as TaggedOutput so that `_route` can hand each consumer its own (defect 2). `side_values`: each
    side input's elements, computed once by dask as a dependency of this task."""
    from apache_beam import DoFn, TaggedOutput
    from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
    from apache_beam.runners.dask.transform_evaluator import OneReceiver, get_windowed_value
    from apache_beam.transforms.sideinputs import SideInputMap

    side_inputs = [
        SideInputMap(view, options, [get_windowed_value(v, mapping) for v in values])
        for (view, options, mapping), values in zip(side_specs, side_values)
    ]

    receivers = OneReceiver()  # a fresh one per partition: partitions on one worker must not share outputs
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn),
        handler,
        context=DoFnContext(label, state=None),
        side_inputs=side_inputs,
        input_args=args,
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return [TaggedOutput(v.tag, v.value.value) if isinstance(v, TaggedOutput) else v.value for v in receivers.values]


def _route(bag, tag):
    """The elements of one output of a multi-output ParDo: untagged for the main output, else `tag`'s."""
    from apache_beam import TaggedOutput

    if tag is None:
        return bag.filter(lambda v: not isinstance(v, TaggedOutput))
    return bag.filter(lambda v: isinstance(v, TaggedOutput) and v.tag == tag).map(lambda v: v.value)


def _mended_classes():
    import apache_beam as beam
    import dask
    from apache_beam import pvalue
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.runners.dask import dask_runner as dr
    from apache_beam.runners.dask import transform_evaluator as te

    def whole(bag):
        """A bag as one dask object: its elements in one list, a dependency of the tasks that take it."""
        return dask.delayed(lambda *parts: [x for part in parts for x in part])(*bag.to_delayed(optimize_graph=False))

    class ParDo(te.ParDo):
        def apply(self, input_bag, side_inputs=None):
            transform = self.transform
            args, kwargs = transform.raw_side_inputs
            main_input = next(iter(self.applied.main_inputs.values()))
            window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
            specs = [spec for spec, _ in side_inputs or ()]
            values = [whole(bag) for _, bag in side_inputs or ()]
            return input_bag.map(te.get_windowed_value, window_fn).map_partitions(
                _run_bundle, transform.fn, window_fn, transform.label, specs, list(args), kwargs, *values
            )

    translations = {**te.TRANSLATIONS, beam.ParDo: ParDo}

    @dataclasses.dataclass
    class Visitor(PipelineVisitor):
        bag_kwargs: dict
        bags: dict = dataclasses.field(default_factory=dict)
        consumed: set = dataclasses.field(default_factory=set)

        def _input(self, pcoll):
            producer = pcoll.producer
            self.consumed.add(producer)
            bag = self.bags.get(producer)
            if bag is not None and isinstance(producer.transform, beam.ParDo) and len(producer.outputs) > 1:
                bag = _route(bag, pcoll.tag)
            return bag

        def visit_transform(self, node) -> None:
            op = translations.get(node.transform.__class__, te.NoOp)(node, bag_kwargs=self.bag_kwargs)
            kwargs = {"input_bag": None, "side_inputs": None}
            inputs = list(node.inputs)
            if inputs:
                bags = [None if isinstance(i, pvalue.PBegin) else self._input(i) for i in inputs]
                bags = [b for b in bags if b is not None] or [None]
                single = len(bags) == 1 and not isinstance(op, te.Flatten)
                kwargs["input_bag"] = bags[0] if single else bags
            if node.side_inputs:  # (view, its options, window mapping) and the bag, for ParDo.apply
                kwargs["side_inputs"] = [
                    ((type(si), si._view_options(), si._window_mapping_fn), self._input(si.pvalue))
                    for si in node.side_inputs
                ]
            self.bags[node] = op.apply(**kwargs)

        def leaves(self) -> list:
            """Every bag that nothing consumes: the ends of all the pipeline's branches (defect 1)."""
            return [b for node, b in self.bags.items() if node not in self.consumed and b is not None]

    @dataclasses.dataclass
    class Result(dr.DaskRunnerResult):
        def wait_until_finish(self, duration=None):
            try:
                return super().wait_until_finish(duration)
            finally:
                self.client.close()  # else the client keeps reconnecting to a cluster that has gone

        def metrics(self):
            from apache_beam.metrics.execution import MetricResults

            class NoMetrics(MetricResults):  # the DaskRunner collects none; TFDS asks for them
                def query(self, filter=None):
                    return {"counters": [], "distributions": [], "gauges": []}

            return NoMetrics()

    class MendedDaskRunner(dr.DaskRunner):
        def run_pipeline(self, pipeline, options):
            import dask
            import dask.distributed as ddist

            dask_options = options.view_as(dr.DaskOptions).get_all_options(drop_default=True, current_only=True)
            bag_kwargs = dr.DaskOptions._extract_bag_kwargs(dask_options)
            client = ddist.Client(**dask_options)
            pipeline.replace_all(dr.dask_overrides())
            visitor = Visitor(bag_kwargs)
            pipeline.visit(visitor)
            leaves = dask.optimize(*visitor.leaves())
            return Result(client, client.compute(list(leaves)))

    return MendedDaskRunner


def __getattr__(name):  # Beam finds the runner by its dotted name; Beam and dask load only when it is used
    if name == "MendedDaskRunner":
        return _mended_classes()
    raise AttributeError(name)


def _quiet_workers(cluster) -> None:
    """Warnings off in every worker of `cluster`, a worker that replaces a lost one included: Beam's import
    in each worker warns on the root logger that GCP's client libraries are absent (needed on Dataflow)."""
    from dask.distributed import Client, WorkerPlugin

    class Quiet(WorkerPlugin):
        def setup(self, worker):
            logging.disable(logging.WARNING)

    with Client(cluster) as client:
        client.register_plugin(Quiet(), name="ssl_audio-quiet")


@contextlib.contextmanager
def dask_engine(address: str | None, workers: int | None):
    """Beam options for a Dask run: the scheduler at `address`, or a LocalCluster of `workers` processes
    (one thread each: decoding and the model hold the GIL) started here and closed on the way out."""
    options = {"dask_partition_size": "1"}  # each created element (a listing shard) its own partition
    if address:
        yield {**options, "dask_client_address": address}
        return
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        from ssl_audio.errors import UsageError

        raise UsageError("--runner dask needs dask: pip install 'ssl_audio[dask]'") from None
    n = workers or max(1, (os.cpu_count() or 2) // 2)
    from ssl_audio.runtime import engine_logs

    quiet = not engine_logs()
    if quiet:  # Dask logs every worker's start and stop at INFO; a user of a local run reads only our lines
        logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR if quiet else False,
    ) as cluster:
        if quiet:
            _quiet_workers(cluster)
        yield {**options, "dask_client_address": cluster.scheduler_address}
