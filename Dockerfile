# The stormwatch image for distributed runs (`stormwatch k8s` prints the Job that uses it):
# a release build in the Rust image, then only the binary and CA certificates on Debian slim,
# running as an unprivileged user.
#   docker build -t REGISTRY/stormwatch:TAG .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin stormwatch \
 && cp target/release/stormwatch /stormwatch

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 stormwatch \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin stormwatch \
 && mkdir /runs && chown 10001:10001 /runs
COPY --from=build /stormwatch /usr/local/bin/stormwatch
USER 10001:10001
WORKDIR /runs
ENTRYPOINT ["stormwatch"]
CMD ["--help"]
