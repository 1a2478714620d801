# The platform's own image: web and worker roles from the same image.
#   docker build -t podium .
#   docker run ... podium web            (PODIUM_WEB_HOST=0.0.0.0)
#   docker run -v /var/run/docker.sock:/var/run/docker.sock ... podium worker
# The worker starts sandboxed containers through the host's engine; its work folder
# (PODIUM_WORKER_CACHE_DIR) must be a host path mounted at the same path, so that bind mounts resolve.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PODIUM_DATA_DIR=/var/lib/podium
WORKDIR /opt/podium
COPY pyproject.toml README.md ./
COPY app ./app
COPY evaluation ./evaluation
COPY runners ./runners
COPY migrations ./migrations
COPY challenges ./challenges
RUN pip install --no-cache-dir . \
 && useradd --system --home /var/lib/podium podium \
 && mkdir -p /var/lib/podium && chown podium /var/lib/podium
EXPOSE 5000
ENTRYPOINT ["podium"]
CMD ["web"]
