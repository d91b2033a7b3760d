"""``rtx-analytics notify``: alerts and escalations to webhooks (docs/workflow.md).

- :mod:`.config`: ``[notify]`` and its webhooks from the config file;
- :mod:`.body`: the JSON and Slack-compatible bodies;
- :mod:`.plan`: the pure planner (the workflow fold, transitions, idempotency keys, the
  escalation policy at a given time);
- :mod:`.delivery`: HTTP delivery with retries, backoff and a dead-letter;
- :mod:`.runner`: the Kafka I/O (alert log, actions, ledger) around them;
- :mod:`.cli`: the command.
"""
