# syntax=docker/dockerfile:1
# s3prio container image: build with the Rust toolchain, run on distroless (glibc, CA
# certificates, no shell) as the non-root user 65532.
#   docker build --build-arg S3PRIO_REVISION="$(git rev-parse --short=12 HEAD)" -t s3prio:0.1.0 .
#   docker run --rm -v "$PWD/deploy/kubernetes:/etc/s3prio:ro" s3prio:0.1.0 check --config /etc/s3prio/s3prio.toml
# The image ships the binary without DWARF (symbols kept). Its line tables, for symbolizing a
# profile of that very binary (perf, addr2line, gdb find them through .gnu_debuglink):
#   docker build --target debug-info --output type=local,dest=dist .    # -> dist/s3prio.debug

FROM rust:1.95-bookworm AS build
# Shown by `s3prio --version`; .git is not in the build context.
ARG S3PRIO_REVISION=unknown
WORKDIR /src
COPY . .
# The caches keep the registry and target/ between builds; the binary is copied out of them,
# then split into the shipped binary and its debug file.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin s3prio \
    && mkdir -p /out \
    && objcopy --only-keep-debug target/release/s3prio /out/s3prio.debug \
    && objcopy --strip-debug --add-gnu-debuglink=/out/s3prio.debug target/release/s3prio /out/s3prio

FROM scratch AS debug-info
COPY --from=build /out/s3prio.debug /s3prio.debug

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/s3prio /usr/local/bin/s3prio
USER 65532:65532
ENV S3PRIO_CONFIG=/etc/s3prio/s3prio.toml
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/s3prio"]
CMD ["run"]
