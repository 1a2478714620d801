# The platform's own image, podium/platform:<version>: the web and worker roles from the same image.
#
# Build it with scripts/build-platform-image.sh, not with a plain `docker build .`: the script builds Podium's
# wheel, gathers the wheels of every dependency on the host (cached under build/platform-image/wheels) and lays
# them out as this file's build context (pip/, deps/, podium/). The build then runs with `--network none`:
# nothing is downloaded and nothing is pulled (the base is the locally built podium/python-base:bookworm).
#
# Running it (docs/operations.md, "The platform image"):
#   docker run --rm -v podium-data:/var/lib/podium podium/platform:VERSION db upgrade
#   docker run -d -p 5000:5000 -v podium-data:/var/lib/podium podium/platform:VERSION web     (the default)
#   docker run -d -v /var/run/docker.sock:/var/run/docker.sock --group-add DOCKER_SOCKET_GID \
#     -v /srv/podium/work:/srv/podium/work -e PODIUM_WORKER_CACHE_DIR=/srv/podium/work ... podium/platform:VERSION worker
# The worker starts sandboxed containers through the host's engine; its work folder
# (PODIUM_WORKER_CACHE_DIR) must be a host path mounted at the same path, so that bind mounts resolve.
# Both roles run as the unprivileged user podium (uid 10001); a bind-mounted data folder must be writable by it.
ARG BASE_IMAGE=podium/python-base:bookworm

FROM ${BASE_IMAGE} AS install
# pip is in neither the base image nor the final one: it runs from its own wheel (python3 pip-X.whl/pip).
COPY pip/ /tmp/pip/
COPY deps/ /tmp/deps/
# A virtualenv of its own, so the base image's older Debian numpy is never imported. The dependencies are one
# layer, cached as long as the wheels do not change. Smaller: without the test suites of numpy, scipy,
# scikit-learn and matplotlib (about 65 MB with their bytecode), which nothing imports at run time. The bytecode
# stays: without it every process would compile scipy and scikit-learn again (3 s more at each start).
RUN set -- /tmp/pip/pip-*.whl \
 && python3 -m venv --without-pip /opt/podium \
 && /opt/podium/bin/python "$1/pip" install --disable-pip-version-check --no-cache-dir \
      --no-index --find-links /tmp/deps /tmp/deps/*.whl \
 && cd /opt/podium/lib/python3*/site-packages \
 && find numpy scipy sklearn matplotlib -type d -name tests -prune -exec rm -rf {} +
# Podium itself into a separate tree, merged into the virtualenv below: a code change rebuilds one small layer.
COPY podium/ /tmp/podium/
RUN set -- /tmp/pip/pip-*.whl \
 && /opt/podium/bin/python "$1/pip" install --disable-pip-version-check --no-cache-dir \
      --no-index --no-deps --prefix /opt/podium-app /tmp/podium/*.whl

FROM ${BASE_IMAGE}
ARG VERSION=unknown
LABEL org.opencontainers.image.title="Podium" \
      org.opencontainers.image.description="Podium's web site and evaluation worker (podium web | podium worker)" \
      org.opencontainers.image.version="${VERSION}"
RUN useradd --no-log-init --uid 10001 --user-group --home-dir /var/lib/podium --no-create-home \
      --shell /usr/sbin/nologin podium \
 && install -d -o podium -g podium -m 0755 /var/lib/podium
COPY --from=install /opt/podium /opt/podium
COPY --from=install /opt/podium-app /opt/podium
# The site listens on every interface of the container's own network namespace; publish the port to expose it.
ENV PATH=/opt/podium/bin:$PATH PYTHONUNBUFFERED=1 PODIUM_DATA_DIR=/var/lib/podium PODIUM_WEB_HOST=0.0.0.0
USER podium
WORKDIR /var/lib/podium
EXPOSE 5000
ENTRYPOINT ["podium"]
CMD ["web"]
