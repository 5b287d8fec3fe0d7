# kjournal's image for people who have Docker. `make image` builds the same image without Docker
# (internal/image): keep the two equivalent — a static kjournal at /kjournal (0555, root-owned),
# /var/run/kjournal owned by 65532:65532, user 65532:65532, entrypoint ["/kjournal"], working
# directory /, the same OCI labels; nothing else (no shell, no libc, no CA certificates: kjournal
# speaks only to Kafka and Cassandra, never TLS to the internet).
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t ghcr.io/kjournal/kjournal:0.1.0 .
#
# Go must be the go.mod's version or newer.
FROM golang:1.26 AS build
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/kjournal/kjournal/internal/buildinfo.version=${VERSION} -X github.com/kjournal/kjournal/internal/buildinfo.revision=${REVISION}" \
      -o /out/kjournal ./cmd/kjournal \
 && chmod 0555 /out/kjournal \
 && mkdir -p /out/var/run/kjournal

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kjournal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/kjournal/kjournal" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=build /out/kjournal /kjournal
COPY --from=build --chown=65532:65532 /out/var/run/kjournal /var/run/kjournal
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/kjournal"]
