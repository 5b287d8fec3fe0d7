package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

const (
	// closeWriteTimeout bounds writing the last frames of a connection being closed (an error frame,
	// the shutdown frame): a client that does not read cannot hold the sidecar.
	closeWriteTimeout = 5 * time.Second
	// maxAcceptDelay caps the backoff of the accept loop after an accept error (EMFILE and the like).
	maxAcceptDelay = time.Second
)

// Server serves the protocol on a Unix socket, and health and metrics over HTTP. Create it with New,
// run it with Run.
type Server struct {
	cfg      Config
	js       *journal.Journals
	logger   hclog.Logger
	m        *metrics
	gatherer prometheus.Gatherer
	origin   string // the host name, written with snapshots

	// soft ends when shutdown begins (read streams end); hard ends after the grace (everything ends).
	soft     context.Context
	softStop context.CancelCauseFunc
	hard     context.Context
	hardStop context.CancelCauseFunc

	mu       sync.Mutex
	ln       *net.UnixListener
	httpLn   net.Listener
	httpSrv  *http.Server
	conns    map[*conn]struct{}
	closing  bool
	nextConn uint64

	reqs   sync.WaitGroup // requests in flight on every connection; Add under mu while !closing
	connWG sync.WaitGroup // connection goroutines, rejections included
}

// New validates cfg, fills in its defaults and returns a Server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	reg, gath := cfg.Registerer, cfg.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if gath == nil {
			gath = r
		}
	}
	if gath == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gath = g
		} else {
			gath = prometheus.DefaultGatherer
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("sidecar: metrics: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		js:       cfg.Journals,
		logger:   cfg.Logger,
		m:        m,
		gatherer: gath,
		conns:    map[*conn]struct{}{},
	}
	s.origin, _ = os.Hostname()
	s.soft, s.softStop = context.WithCancelCause(context.Background())
	s.hard, s.hardStop = context.WithCancelCause(context.Background())
	return s, nil
}

// Listen binds the socket and the HTTP address. Run calls it when it has not been called; call it
// first to learn HTTPAddr when Config.HTTPAddr has port 0.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("sidecar: already listening")
	}
	if s.closing {
		return errors.New("sidecar: server was shut down")
	}
	ln, err := listenSocket(s.cfg.SocketPath, s.cfg.SocketMode)
	if err != nil {
		return err
	}
	if s.cfg.HTTPAddr != NoHTTP {
		hl, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("sidecar: http: %w", err)
		}
		s.httpLn = hl
		s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
	}
	s.ln = ln
	return nil
}

// HTTPAddr is the address the health and metrics server listens on ("" before Listen or without one).
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// SocketPath is the path of the Unix socket.
func (s *Server) SocketPath() string { return s.cfg.SocketPath }

// Run listens (unless Listen was called), serves until ctx ends, then shuts down gracefully (see the
// package documentation) and returns. The socket file is removed before Run returns. It returns nil
// after a shutdown caused by ctx, or the error that stopped the server.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	listening := s.ln != nil
	s.mu.Unlock()
	if !listening {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		s.acceptLoop()
	}()
	httpErr := make(chan error, 1)
	if s.httpSrv != nil {
		go func() { httpErr <- s.httpSrv.Serve(s.httpLn) }()
	}
	s.logger.Info("sidecar listening", "socket", s.cfg.SocketPath, "http", s.HTTPAddr(),
		"default_topic", s.cfg.DefaultTopic, "max_connections", s.cfg.MaxConnections,
		"max_in_flight", s.cfg.MaxInFlight, "max_frame_bytes", s.cfg.MaxFrameBytes)
	var err error
	select {
	case <-ctx.Done():
		s.logger.Info("sidecar shutting down", "grace", s.cfg.ShutdownGrace)
	case err = <-httpErr:
		err = fmt.Errorf("sidecar: http: %w", err)
		s.logger.Error("health server failed; shutting down", "error", err)
	}
	s.shutdown(acceptDone)
	return err
}

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosing() {
				return
			}
			// Out of file descriptors and the like: back off, as net/http and raft do.
			delay = min(max(2*delay, 5*time.Millisecond), maxAcceptDelay)
			s.logger.Warn("accept failed", "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.soft.Done():
				return
			}
			continue
		}
		delay = 0
		s.startConn(nc)
	}
}

// startConn serves nc, or refuses it with a frame when the server is full or closing.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	var refusal *protocol.Error
	reason := ""
	switch {
	case s.closing:
		refusal, reason = errShuttingDown, "shutdown"
	case len(s.conns) >= s.cfg.MaxConnections:
		refusal = protocol.NewError(0, protocol.CodeTooManyConnections, "the sidecar already serves %d connections", s.cfg.MaxConnections)
		reason = "limit"
	}
	s.connWG.Add(1)
	if refusal != nil {
		s.mu.Unlock()
		s.m.rejected.WithLabelValues(reason).Inc()
		go func() {
			defer s.connWG.Done()
			refuse(nc, refusal)
		}()
		return
	}
	s.nextConn++
	c := newConn(s, nc, s.nextConn)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.m.connections.Inc()
	go func() {
		defer s.connWG.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.m.connections.Dec()
		}()
		c.serve()
	}()
}

// refuse writes one error frame to nc, without reading anything, and closes it.
func refuse(nc net.Conn, e *protocol.Error) {
	defer nc.Close()
	body, err := protocol.EncodeReply(e)
	if err != nil {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_, _ = nc.Write(protocol.AppendFrame(nil, body))
}

// beginRequest counts a request in flight; it returns false once shutdown began.
func (s *Server) beginRequest() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.reqs.Add(1)
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// shutdown stops the server: no new connections or requests, streams end at once, the other requests
// get ShutdownGrace, then every connection gets its final frame and is closed.
func (s *Server) shutdown(acceptDone <-chan struct{}) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	_ = s.ln.Close() // stops accepting and unlinks the socket file
	<-acceptDone
	s.softStop(errShuttingDown)

	if !waitTimeout(&s.reqs, s.cfg.ShutdownGrace) {
		s.logger.Warn("requests still in flight after the shutdown grace; failing them", "grace", s.cfg.ShutdownGrace)
		s.hardStop(errShuttingDown)
		// Replies blocked behind clients that do not read must not hold the shutdown.
		for _, c := range s.connections() {
			_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		}
		if !waitTimeout(&s.reqs, closeWriteTimeout+time.Second) {
			s.logger.Error("requests did not end after the shutdown grace; closing their connections anyway")
		}
	}
	for _, c := range s.connections() {
		go c.closeWith(errShuttingDown) // in parallel: each may wait for a slow client
	}
	if !waitTimeout(&s.connWG, closeWriteTimeout+time.Second) {
		s.logger.Error("connections did not close in time")
	}
	s.hardStop(errShuttingDown)
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.httpSrv.Shutdown(ctx)
		cancel()
	}
	s.logger.Info("sidecar stopped")
}

func (s *Server) connections() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// waitTimeout waits for wg for at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
