# One image per service, from the repository root:
#   docker build --build-arg SERVICE=HourNas.Coordinator --build-arg DOTNET_SDK_IMAGE=<sdk image> \
#     --build-arg DOTNET_RUNTIME_IMAGE=<runtime image> .
# SERVICE is a project under services/: HourNas.Coordinator, HourNas.VitalBlocks, HourNas.SpaceShrinking,
# HourNas.SupernetTraining or HourNas.Retraining. Not exercised on the development machine (no Docker engine there);
# see docker-compose.yml, which passes all three.
ARG DOTNET_SDK_IMAGE
ARG DOTNET_RUNTIME_IMAGE
FROM ${DOTNET_SDK_IMAGE} AS build
ARG SERVICE
WORKDIR /src
COPY . .
RUN test -n "${SERVICE}" && dotnet publish "services/${SERVICE}/${SERVICE}.csproj" -c Release -o /app \
    && echo "${SERVICE}.dll" > /app/entrypoint

FROM ${DOTNET_RUNTIME_IMAGE}
# Plots need a TrueType font; Fashion-MNIST comes from Debian's dataset package; TurboJPEG decodes JPEG fast.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core dataset-fashion-mnist libturbojpeg0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app .
ENV HourNas__Artifacts=/artifacts Urls=http://0.0.0.0:8080
EXPOSE 8080
# The service's assembly, recorded at build time (an ENTRYPOINT cannot expand a build argument).
ENTRYPOINT ["sh", "-c", "exec dotnet \"$(cat /app/entrypoint)\""]
