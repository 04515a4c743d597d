# syntax=docker/dockerfile:1
# GPU serving image: pix2pix-serve with TensorRT (ONNX Runtime on CPU as the fallback), installed
# with the README's "GPU serving" line. Engines, with plans built for the nodes' GPU
# (`pix2pix-export --build-tensorrt`), are mounted at /engines, never baked in. From the
# repository root, then on a host with the NVIDIA Container Toolkit:
#
#   docker build -f deploy/docker/gpu.Dockerfile -t pix2pix-stream:0.1.0-gpu .
#   docker run --rm --gpus 1 -p 50051:50051 -p 9100:9100 -v "$PWD/engines:/engines:ro" pix2pix-stream:0.1.0-gpu
#
# Written without a Docker daemon or a GPU: never built, never run (see docs/deploy.md).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04

FROM ${CUDA_IMAGE} AS wheel
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY . .
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# The CUDA driver comes from the host (NVIDIA Container Toolkit); TensorRT's and CUDA's user-space
# libraries come with the tensorrt wheels from NVIDIA's index.
FROM ${CUDA_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
# Ubuntu's Python refuses system-wide pip installs (PEP 668): a venv on PATH instead.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY --from=wheel /wheels /wheels
# The README's install line; --find-links is where this image's copy of the project is.
RUN pip install --no-cache-dir --find-links /wheels --extra-index-url https://pypi.nvidia.com "pix2pix-stream[serve,tensorrt]" \
    && rm -rf /wheels
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin pix2pix
USER 10001
EXPOSE 50051 9100
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD ["pix2pix-client", "health", "--server", "127.0.0.1:50051", "--connect-timeout", "3", "--timeout", "3"]
ENTRYPOINT ["pix2pix-serve"]
CMD ["--engines", "/engines", "--port", "50051", "--metrics-port", "9100", "--backend", "auto"]
