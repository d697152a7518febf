package proxy

// HandlerTransport lets the external tests (benchmarks) serve a provider
// in-process, as the session-cache tests do.
type HandlerTransport = handlerTransport
