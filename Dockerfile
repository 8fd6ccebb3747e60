# syntax=docker/dockerfile:1
# The orphans-exporter image: a static binary on distroless, running as the
# image's unprivileged user.
#   docker build --build-arg VERSION=$(git describe --tags) -t ghcr.io/orphansweep/orphans-exporter:$(git describe --tags) .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=v0.0.0-dev
ARG REVISION=unknown
# CGO off: a static binary, nothing to resolve in an image without libc.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w \
      -X github.com/prometheus/common/version.Version=${VERSION#v} \
      -X github.com/prometheus/common/version.Revision=${REVISION} \
      -X github.com/prometheus/common/version.BuildUser=orphans" \
      -o /out/orphans-exporter ./exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orphans-exporter /orphans-exporter
# Numeric, so Kubernetes can check runAsNonRoot without the image's passwd.
USER 65532:65532
EXPOSE 9866
ENTRYPOINT ["/orphans-exporter"]
