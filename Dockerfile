# Octorun's controller image: a static binary on a distroless base, as a
# non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/octorun ./cmd/octorun

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/octorun /octorun
USER 65532:65532
ENTRYPOINT ["/octorun"]
