package rtx

import "github.com/twmb/franz-go/pkg/kgo"

// keyPartitioner is franz-go's partitioner for keyed records with Kafka's own hash: the Java
// client's default, toPositive(murmur2(key)) % partitions. The Python SDK partitions the same
// way, so an event lands on the same partition whichever SDK sent it, and per-key order holds.
var keyPartitioner = kgo.StickyKeyPartitioner(nil)

// Partition returns the partition a key goes to in a topic of n partitions: the Publisher's
// own partitioner, exported for services with their own producer and for the contract tests.
func Partition(key string, n int) int {
	return keyPartitioner.ForTopic("").Partition(&kgo.Record{Key: []byte(key)}, n)
}
