# Octorun's controller image: a static binary on a distroless base, as a
# non-root user.
#
# Base images are pinned by digest, so a rebuild of a commit gets the images
# it was tested with. Refresh both digests together, by Renovate's or
# Dependabot's docker updates or by hand (crane digest <image>:<tag>), and keep
# the golang tag at or above go.mod's go line: the image sets
# GOTOOLCHAIN=local. test/dockerfile checks the tag, the pins, and that the
# build stage copies every package cmd/octorun needs.
FROM golang:1.26.8@sha256:3c3e25a4da13fd0478eed2df1eb35a0e667094a7124d3993a6a1d30f71c17e79 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
COPY pkg/ pkg/
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/octorun ./cmd/octorun

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/octorun /octorun
USER 65532:65532
ENTRYPOINT ["/octorun"]
