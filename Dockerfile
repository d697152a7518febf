# syntax=docker/dockerfile:1
#
# authgate container image: one static binary on distroless/static, running as
# a numeric non-root user, no shell, no package manager.
#
#   docker build -t authgate:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 8080:8080 -p 9090:9090 --env-file authgate.env authgate:dev
#
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .` cross-
# compiles on the build host (no emulation): the build stage runs on
# BUILDPLATFORM and Go targets TARGETOS/TARGETARCH.
#
# deploy/deploy_test.go parses this file: it checks the non-root USER, the
# static build flags, the ENTRYPOINT and the HEALTHCHECK, and builds the binary
# with exactly the flags of the `go build` line below.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
# -trimpath: no build-machine paths in the binary. -s -w: no symbol tables.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/authgate ./cmd/authgate

# distroless/static: CA certificates, tzdata and /etc/passwd, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authgate /authgate
# 65532 is distroless' "nonroot". Numeric, so Kubernetes' runAsNonRoot can
# verify it without reading /etc/passwd.
USER 65532:65532
# 8080: the proxy (LISTEN_ADDR). 9090: the admin listener (ADMIN_ADDR) with
# /healthz, /readyz and /metrics; do not publish it to the internet.
EXPOSE 8080 9090
# The binary is its own probe (the image has no curl): it GETs /healthz on
# ADMIN_ADDR. Kubernetes ignores HEALTHCHECK; it uses the probes in deploy/.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/authgate", "healthcheck"]
ENTRYPOINT ["/authgate"]
CMD ["serve"]
