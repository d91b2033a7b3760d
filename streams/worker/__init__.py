"""``rtx-analytics worker``: the stream processor (a Faust app whose tasks read Kafka in
batches). :mod:`.pipeline` is the dataflow without I/O; :mod:`.app` the shell around it;
:mod:`.kafka_io` the Kafka plumbing; :mod:`.run` the command."""
