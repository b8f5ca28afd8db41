"""The job engine: resumable, sharded jobs that write a dataset (generate, encode, frames).

* :mod:`wmhub.jobs.destination` -- where a job writes (a local directory or an
  fsspec URL): lock, job file, temporaries, manifest, card-then-manifest finalize;
* :mod:`wmhub.jobs.engine` -- the job file's life (refuse, resume), planning,
  running work units, finalizing;
* :mod:`wmhub.jobs.units` -- picklable work units and the executor protocol;
* executors: :mod:`wmhub.jobs.local_executor` (this process or spawned
  processes), :mod:`wmhub.jobs.ray_tasks` (one Ray task per unit),
  :mod:`wmhub.jobs.ray_actors` (a pool of Ray actors that load a model once);
* :mod:`wmhub.jobs.overlap` -- a worker writes one unit's shards on its writer
  thread while it computes the next (units that split into the two steps);
* :mod:`wmhub.jobs.derived` -- jobs that add a config derived from the step
  shards (embeddings, frames).

What a shard's work is belongs to :mod:`wmhub.generation` and
:mod:`wmhub.encoding`; this package never imports them.
"""
