"""Drives RQ through its own Python API for the integration tests.

Usage: ctl.py REDIS_URL QUEUE COMMAND [ARGS...]

  enqueue ID FUNC [ARG] [--depends-on ID] [--in SECONDS]
                           enqueue jobs.FUNC(ARG) with job id ID
  enqueue-many N           enqueue N jobs.fast(i) in one pipeline
  cancel ID                Job.cancel() (the seed's broken "stop")
  describe                 JSON: every registry's ids and each job's status,
                           as RQ itself reports them
  status ID                the job's status, or "missing"
"""
import json
import sys
from datetime import timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

import jobs


def main():
    url, queue_name, command, *args = sys.argv[1:]
    conn = Redis.from_url(url)
    queue = Queue(queue_name, connection=conn)
    if command == "enqueue":
        job_id, func, *rest = args
        depends_on, delay, fargs = None, None, []
        while rest:
            item = rest.pop(0)
            if item == "--depends-on":
                depends_on = rest.pop(0)
            elif item == "--in":
                delay = float(rest.pop(0))
            else:
                fargs.append(int(item))
        target = getattr(jobs, func)
        if delay is not None:
            queue.enqueue_in(timedelta(seconds=delay), target, *fargs, job_id=job_id)
        else:
            queue.enqueue(target, *fargs, job_id=job_id, depends_on=depends_on)
    elif command == "enqueue-many":
        n = int(args[0])
        batch = 1000
        for start in range(0, n, batch):
            datas = [
                Queue.prepare_data(jobs.fast, (i,), job_id=f"bulk-{i}")
                for i in range(start, min(n, start + batch))
            ]
            queue.enqueue_many(datas)
    elif command == "cancel":
        Job.fetch(args[0], connection=conn).cancel()
    elif command == "status":
        try:
            status = Job.fetch(args[0], connection=conn).get_status()
            print(getattr(status, "value", status))
        except Exception:
            print("missing")
    elif command == "describe":
        registries = {
            "queued": queue.job_ids,
            "started": StartedJobRegistry(queue=queue).get_job_ids(),
            "finished": FinishedJobRegistry(queue=queue).get_job_ids(),
            "failed": FailedJobRegistry(queue=queue).get_job_ids(),
            "canceled": CanceledJobRegistry(queue=queue).get_job_ids(),
            "deferred": DeferredJobRegistry(queue=queue).get_job_ids(),
            "scheduled": ScheduledJobRegistry(queue=queue).get_job_ids(),
        }
        # RQ 2 lists started members as "<id>:<execution>"; keep the id.
        registries = {k: [i.split(":")[0] for i in v] for k, v in registries.items()}
        statuses = {}
        for ids in registries.values():
            for job_id in ids:
                try:
                    job = Job.fetch(job_id, connection=conn)
                    status = job.get_status()
                    statuses[job_id] = {
                        "status": getattr(status, "value", status),
                        "description": job.description,
                        "worker": getattr(job, "worker_name", None) or None,
                    }
                except Exception:
                    statuses[job_id] = None
        print(json.dumps({"registries": registries, "jobs": statuses}))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
