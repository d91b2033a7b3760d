"""``rtx-analytics worker``: the stream processor (a Faust app whose tasks read Kafka in batches).

- :mod:`.pipeline`: the dataflow without I/O (stage 1, the global stage, their records);
- :mod:`.app`: the Faust wiring; :mod:`.run` and :mod:`.cli`: the command;
- :mod:`.inputs_loop`, :mod:`.global_loop`: the two consume loops (and the global stage's timer);
- :mod:`.producers`, :mod:`.batch_sender`, :mod:`.outputs`: the producer, batched sends, encoding;
- :mod:`.kafka_io`: ordered commits, the consume loop, partition reads;
- :mod:`.alert_ids`, :mod:`.dead_letter`: alert ids never written twice; bad input set aside;
- :mod:`.context`, :mod:`.topic_names`, :mod:`.settings`, :mod:`.metrics`, :mod:`.log_levels`.
"""
