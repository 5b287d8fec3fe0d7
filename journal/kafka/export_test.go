package kafka

// CloseProducerConnections closes the broker connections the producer of l sends on, as a broker
// restart would: what is in flight fails and is resent.
func CloseProducerConnections(l *Log) {
	l.prod.sendersMu.RLock()
	defer l.prod.sendersMu.RUnlock()
	for _, s := range l.prod.senders {
		s.mu.Lock()
		b := s.b
		s.mu.Unlock()
		_ = b.Close()
	}
}
