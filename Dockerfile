# Two stages: build the virtual environment with the same `make install` the README uses,
# then copy it into a slim runtime that runs as an unprivileged user.
# No registry for base images is reachable from the development machines; any Debian-based
# Python 3.11+ image works.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends make gcc g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY api ./api
COPY optimizer ./optimizer
COPY geo ./geo
COPY mobile_contract ./mobile_contract
COPY examples ./examples
COPY web/package.json web/package-lock.json ./web/
RUN make install EXTRAS=runtime PIP_EDITABLE=

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 nachtroute
WORKDIR /app
COPY --from=build /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    NACHTROUTE_DATA_DIR=/home/nachtroute/data \
    PYTHONDONTWRITEBYTECODE=1
USER nachtroute
EXPOSE 8000
CMD ["nachtroute", "serve", "--host", "0.0.0.0", "--port", "8000"]
