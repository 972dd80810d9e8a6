# The project's image: Airflow 3.3 (Python 3.11) plus the pinned requirements and this code.
# One image serves every component (api-server, scheduler, dag-processor, triggerer, workers)
# and the T2A stand-in; docker-compose.yaml picks the command.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client redis-tools curl \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root requirements.txt constraints.txt /opt/project/
RUN pip install --no-cache-dir -r /opt/project/requirements.txt -c /opt/project/constraints.txt

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
