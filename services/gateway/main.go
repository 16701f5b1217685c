// The example API gateway: a standard-library HTTP server that answers `/health` (and `/healthz`) and `/`, listening
// on $PORT. Cloud Run reserves some paths ending in z at a service's URL, so probes and checks use `/health`.
//
// Cloud Run sends SIGTERM before it stops an instance and kills it 10 s later; the server stops accepting, lets
// in-flight requests finish (http.Server.Shutdown) and exits 0, so a scale-in or a new revision never cuts a
// request short.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// drainTimeout stays under Cloud Run's 10 s between SIGTERM and SIGKILL, leaving time to exit.
const drainTimeout = 8 * time.Second

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	listener, err := net.Listen("tcp", ":"+port)
	if err != nil {
		logJSON("ERROR", "cannot listen: "+err.Error())
		os.Exit(1)
	}
	if err := serve(listener); err != nil {
		logJSON("ERROR", err.Error())
		os.Exit(1)
	}
}

func serve(listener net.Listener) error {
	server := &http.Server{Handler: logged(routes()), ReadHeaderTimeout: 10 * time.Second}
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logJSON("INFO", "listening on "+listener.Addr().String())

	select {
	case err := <-served:
		return err
	case <-stop.Done():
	}
	logJSON("INFO", "stopping: draining in-flight requests")
	ctx, done := context.WithTimeout(context.Background(), drainTimeout)
	defer done()
	if err := server.Shutdown(ctx); err != nil {
		return errors.New("shutdown: " + err.Error())
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logJSON("INFO", "stopped")
	return nil
}

func routes() http.Handler {
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	}
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]any{"service": envOr("K_SERVICE", "gateway"), "revision": nullable("K_REVISION")})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusNotFound, map[string]any{"error": "not found"})
	})
	return mux
}

func reply(w http.ResponseWriter, status int, body map[string]any) {
	payload, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(payload)
}

// statusRecorder keeps the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		// One JSON line per request on stdout: Cloud Logging parses it into a structured entry.
		logJSON("INFO", r.Method+" "+r.URL.Path+" "+http.StatusText(recorder.status), "status", recorder.status)
	})
}

func logJSON(severity, message string, fields ...any) {
	entry := map[string]any{"severity": severity, "message": message}
	for i := 0; i+1 < len(fields); i += 2 {
		if key, ok := fields[i].(string); ok {
			entry[key] = fields[i+1]
		}
	}
	line, _ := json.Marshal(entry)
	_, _ = os.Stdout.Write(append(line, '\n'))
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func nullable(name string) any {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return nil
}
