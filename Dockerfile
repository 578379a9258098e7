# One image for every SiteTwin service (web, and later worker and scheduler).
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
COPY migrations migrations
RUN pip install .

VOLUME /data
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "webapp:create_app()"]
