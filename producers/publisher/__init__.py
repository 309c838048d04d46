"""Publishing records to Kafka without losing or duplicating one: the producer, its spill and its dead letters."""
