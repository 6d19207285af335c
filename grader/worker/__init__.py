"""The worker side of the trust boundary: the fork server and the worker processes that run the
candidate's code. Nothing here decides pass or fail, and nothing here imports a module that does.

  zygote      the fork server: preloads torch, forks one worker per request, reaps and reports them
  serve       a forked worker: confines itself, imports the candidate, answers the grader's requests
  confine     kernel namespaces, the allowlisted read-only file system, user nobody
  memcap      a memory cgroup per worker
  tripwires   guards that make forbidden APIs raise
  optrace     the operator trace of each request
  remote_ops  the helpers the grader may run on the candidate's objects (`candidate.lib.*`)

Besides this package the worker imports only the modules both sides share, each of which says so:
grader.wire, grader.channel, grader.clock, grader.source, grader.limits, grader.tasks,
grader.training and grader.outputs. tests/test_seams.py holds it to that. The trusted side (grader.supervisor starts
and talks to workers, grader.proxy stands in for the candidate) may import from here, never the
other way round.
"""
