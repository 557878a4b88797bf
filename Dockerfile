# syntax=docker/dockerfile:1
# s3prio container image: build with the Rust toolchain, run on distroless (glibc, CA
# certificates, no shell) as the non-root user 65532.
#   docker build -t s3prio:0.1.0 .
#   docker run --rm -v "$PWD/deploy/kubernetes:/etc/s3prio:ro" s3prio:0.1.0 check --config /etc/s3prio/s3prio.toml

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and target/ between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin s3prio \
    && cp target/release/s3prio /usr/local/bin/s3prio

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/s3prio /usr/local/bin/s3prio
USER 65532:65532
ENV S3PRIO_CONFIG=/etc/s3prio/s3prio.toml
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/s3prio"]
CMD ["run"]
