# The project's image: Airflow 3.3 (Python 3.11) plus the pinned requirements and this code.
# One image serves every component (api-server, scheduler, dag-processor, triggerer, workers)
# and the T2A stand-in; docker-compose.yaml picks the command.
#
# ENTRYPOINT stays the base image's `/usr/bin/dumb-init -- /entrypoint`: every container is run
# by dumb-init (signals forwarded, zombies reaped) and the entrypoint starts `airflow <command>`,
# or `python ...` / `bash ...` when the command starts with those words. Do not override it here;
# docker-compose.yaml overrides it only for the one-shot init (tests/deploy check both).
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client redis-tools curl \
 && rm -rf /var/lib/apt/lists/*
USER airflow

# Airflow's documented way to extend the image ("Adding packages from requirements.txt" in the
# docker-stack docs): as the airflow user, with apache-airflow pinned to the image's own version
# (AIRFLOW_VERSION is set by the base image), so a conflicting requirement fails the build
# instead of up- or downgrading Airflow. Everything else resolves to constraints.txt, the full
# set the tests run against (Airflow's published constraints cannot be fetched where this
# project is developed, so the image's ${HOME}/constraints.txt is not used): where the image
# ships another version of a package, ours wins, and `pip check` fails the build if that leaves
# any package in the image with a broken requirement. tests/deploy/test_image_install.py runs
# this very RUN line in a fresh Python 3.11 venv.
COPY --chown=airflow:root requirements.txt constraints.txt /opt/project/
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/project/requirements.txt -c /opt/project/constraints.txt \
 && pip check

COPY --chown=airflow:root airflow.cfg /opt/project/airflow.cfg
COPY --chown=airflow:root include /opt/project/include
COPY --chown=airflow:root t2a_standin /opt/project/t2a_standin
COPY --chown=airflow:root plugins /opt/project/plugins
COPY --chown=airflow:root dags /opt/project/dags

ENV PYTHONPATH=/opt/project \
    AIRFLOW_CONFIG=/opt/project/airflow.cfg \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/project/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/project/plugins
WORKDIR /opt/project
