# OCI image: the packaged server (`flask-nix-stack serve`: granian) as an unprivileged user.
#
# streamLayeredImage, not buildLayeredImage: the result is a small script that streams the
# image (`./result | docker image load`), so no second copy of the ~200 MB closure lands in the
# Nix store or a binary cache, and each store path becomes its own layer (shared between
# versions). Only the runtime Python environment and its closure go in: no compiler, no shell
# tools, no PostgreSQL server (psycopg2 links libpq only).
# Arguments: nixpkgs doc/build-helpers/images/dockertools.section.md.
{
  lib,
  dockerTools,
  flask-nix-stack,

  # Commit of the flake source, for the OCI revision label (null when unknown).
  revision ? null,
  # The source's commit time as YYYYMMDDHHMMSS (a flake's lastModifiedDate): the image's
  # `created`, so a given commit always yields the same image.
  lastModifiedDate ? "19700101000001",
}:

let
  # Above 10000: no account a host's /etc/passwd is likely to have (a container escaping its
  # namespace lands as nobody's user); what checkov (CKV_K8S_40) and trivy (KSV020) ask for.
  uid = 10001;
  gid = 10001;
  user = "app";
  home = "/home/${user}";

  env = flask-nix-stack.runtimeEnv;

  created =
    let
      part = start: len: lib.substring start len lastModifiedDate;
    in
    "${part 0 4}-${part 4 2}-${part 6 2}T${part 8 2}:${part 10 2}:${part 12 2}Z";

  # /etc/passwd and /etc/group with root, nobody and the app user, so getpwuid() and HOME work.
  nss = dockerTools.fakeNss.override {
    extraPasswdLines = [
      "${user}:x:${toString uid}:${toString gid}:flask-nix-stack:${home}:/sbin/nologin"
    ];
    extraGroupLines = [ "${user}:x:${toString gid}:" ];
  };
in
dockerTools.streamLayeredImage {
  name = "flask-nix-stack";
  tag = flask-nix-stack.version;
  inherit created;

  contents = [
    nss
    # /etc/ssl/certs/ca-certificates.crt (and the other usual locations), for outbound TLS.
    dockerTools.caCertificates
  ];

  # Writable /tmp (tempfile; gunicorn's worker heartbeat files with APP_SERVER=gunicorn) and
  # the user's home.
  fakeRootCommands = ''
    mkdir -p tmp .${home}
    chmod 1777 tmp
    chown ${toString uid}:${toString gid} .${home}
  '';

  config = {
    User = "${toString uid}:${toString gid}";
    WorkingDir = home;
    # Cmd, not Entrypoint, so `docker run IMAGE flask-nix-stack db upgrade` runs migrations.
    # The server command lives in server/serve.py, shared with the stack and the module.
    Cmd = [
      "flask-nix-stack"
      "serve"
    ];
    Env = [
      "PATH=${env}/bin"
      "HOME=${home}"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
      "PYTHONUNBUFFERED=1"
      "APP_ENV=production"
      "APP_BIND=0.0.0.0:8000"
    ]
    # The fns_build_info metric's revision label (server/infra/build_info.py).
    ++ lib.optional (revision != null) "FNS_BUILD_REVISION=${revision}";
    ExposedPorts."8000/tcp" = { };
    Labels = {
      "org.opencontainers.image.title" = "flask-nix-stack";
      "org.opencontainers.image.description" = flask-nix-stack.meta.description;
      "org.opencontainers.image.version" = flask-nix-stack.version;
      "org.opencontainers.image.licenses" = "MIT";
      "org.opencontainers.image.created" = created;
    }
    // lib.optionalAttrs (revision != null) {
      "org.opencontainers.image.revision" = revision;
    };
  };
}
