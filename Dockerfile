# One image for every SiteTwin service: web (gunicorn), worker (Celery), scheduler, migrations.

# The browser bundles (three.js and the 3D twin viewer), built here so that pages fetch nothing from a CDN.
FROM node:20-bookworm-slim AS frontend
WORKDIR /build/frontend
COPY webapp/frontend/package.json webapp/frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webapp/frontend/src src
# esbuild writes ../static/dist/twin3d.js, i.e. /build/static/dist.
RUN npm run build

FROM python:3.11-slim-bookworm

# open3d needs libusb and libgomp; opencv needs libGL and glib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libusb-1.0-0 libgomp1 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SITETWIN_DATA_DIR=/data \
    SITETWIN_MIGRATIONS_DIR=/app/migrations
# CPU builds of torch keep the image small; the pins match pyproject.toml.
RUN pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY twin twin
COPY vision vision
COPY webapp webapp
COPY --from=frontend /build/static/dist webapp/static/dist
COPY migrations migrations
RUN pip install .

# Not root: the services run as an unprivileged user that owns /data (a new named volume takes the
# image's ownership of its mount point).
RUN useradd --create-home --uid 10001 sitetwin && mkdir -p /data && chown sitetwin:sitetwin /data
USER sitetwin
VOLUME /data
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "webapp:create_app()"]
