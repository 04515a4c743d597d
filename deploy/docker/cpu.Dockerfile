# syntax=docker/dockerfile:1
# CPU serving image: pix2pix-serve with ONNX Runtime and OpenVINO, installed with the README's
# "serving on a CPU host" line. Engines are mounted at /engines when the container starts, never
# baked in. From the repository root:
#
#   docker build -f deploy/docker/cpu.Dockerfile -t pix2pix-stream:0.1.0-cpu .
#   docker run --rm -p 50051:50051 -p 9100:9100 -v "$PWD/engines:/engines:ro" pix2pix-stream:0.1.0-cpu
#
# Written without a Docker daemon: never built (docs/deploy.md says what was checked instead).
ARG PYTHON_VERSION=3.12

# The project is not on a package index: build its wheel here, then install it by name below.
FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
# libglib2.0-0: some opencv-python-headless builds link libgthread-2.0 from it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /wheels /wheels
# The README's install line; --find-links is where this image's copy of the project is.
RUN pip install --no-cache-dir --find-links /wheels "pix2pix-stream[serve,openvino]" \
    && rm -rf /wheels
# A numeric non-root user, so that Kubernetes' runAsNonRoot can verify it.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin pix2pix
USER 10001
EXPOSE 50051 9100
# The project's own client asks grpc.health.v1 (health needs no token, even with --token).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["pix2pix-client", "health", "--server", "127.0.0.1:50051", "--connect-timeout", "3", "--timeout", "3"]
ENTRYPOINT ["pix2pix-serve"]
CMD ["--engines", "/engines", "--port", "50051", "--metrics-port", "9100", "--backend", "auto"]
