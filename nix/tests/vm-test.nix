# NixOS VM test of the flake's module with a local PostgreSQL and Redis (needs KVM; Linux only).
# Shape of nixpkgs' nixos/tests/{mealie,web-apps/pretalx}.nix.
{ pkgs, nixosModule }:
pkgs.testers.runNixOSTest {
  name = "flask-nix-stack";

  # node.pkgsReadOnly stays at its default (true: nixpkgs.* are read-only, as on a host that
  # passes its own pkgs): the flake's module sets no nixpkgs option, and its package defaults
  # to the flake's own build (flake.nix, nixosModules.default).

  nodes.machine = {
    imports = [ nixosModule ];

    # A test-only secret: `text` puts it in the store, acceptable here and nowhere else.
    # mode 0400 makes it a root-only copy in /etc; systemd (as root) reads it for
    # LoadCredential=, the service sees its own copy in $CREDENTIALS_DIRECTORY.
    environment.etc."flask-nix-stack/secret-key" = {
      text = "vm-test-secret-key-0123456789abcdef0123456789";
      mode = "0400";
    };
    # The first admin token, stored by the migration unit: the API is usable without a shell.
    environment.etc."flask-nix-stack/admin-token" = {
      text = "fns_vmtest01_XqUfuJUpwO8p62kLMytDElXZoE6ZFTcysEwP3QcFXF8";
      mode = "0400";
    };

    services.flask-nix-stack = {
      enable = true;
      database.createLocally = true;
      redis.createLocally = true;
      port = 8000;
      workers = 2;
      credentials.APP_SECRET_KEY = "/etc/flask-nix-stack/secret-key";
      credentials.APP_BOOTSTRAP_ADMIN_TOKEN = "/etc/flask-nix-stack/admin-token";
    };

    virtualisation.memorySize = 1536;
  };

  testScript = ''
    import json

    api = "http://127.0.0.1:8000"
    auth = "-H 'Authorization: Bearer fns_vmtest01_XqUfuJUpwO8p62kLMytDElXZoE6ZFTcysEwP3QcFXF8'"

    def get(path, token=auth):
        return json.loads(machine.succeed(f"curl --fail --silent {token} {api}{path}"))

    def post(path, body):
        return json.loads(machine.succeed(
            f"curl --fail --silent {auth} -H 'Content-Type: application/json' "
            f"-d '{json.dumps(body)}' {api}{path}"
        ))

    start_all()

    with subtest("migrations ran, web is up and ready"):
        machine.wait_for_unit("flask-nix-stack-migrate.service")
        machine.wait_for_unit("flask-nix-stack.service")
        machine.wait_for_open_port(8000)
        machine.succeed(f"curl --fail --silent {api}/health/live")
        ready = get("/health/ready")
        assert ready["checks"] == {"database": "ok", "redis": "ok"}, ready

    with subtest("the API needs a token; the bootstrap admin token works"):
        status = machine.succeed(f"curl --silent -o /dev/null -w '%{{http_code}}' {api}/api/v1/projects")
        assert status == "401", status
        assert get("/api/v1/me")["principal"]["name"] == "admin"

    with subtest("create a project and a task, read them back"):
        project = post("/api/v1/projects", {"name": "vm-test"})
        task = post("/api/v1/tasks", {"project_id": project["id"], "title": "boot", "tags": ["vm"]})
        assert get(f"/api/v1/tasks/{task['id']}")["title"] == "boot"

    with subtest("data survives a restart"):
        machine.succeed("systemctl restart flask-nix-stack.service")
        machine.wait_for_unit("flask-nix-stack.service")
        machine.wait_for_open_port(8000)
        assert get(f"/api/v1/projects/{project['id']}")["name"] == "vm-test"
        assert get(f"/api/v1/tasks/{task['id']}")["title"] == "boot"

    with subtest("graceful reload keeps serving"):
        machine.succeed("systemctl reload flask-nix-stack.service")
        machine.wait_until_succeeds(f"curl --fail --silent {api}/health/ready")

    with subtest("manage wrapper runs the CLI with the service's context"):
        machine.succeed("flask-nix-stack-manage db current")
        machine.succeed("flask-nix-stack-manage config check")
        machine.succeed("flask-nix-stack-manage principals create vm-user")
        token = machine.succeed(
            "flask-nix-stack-manage tokens create --principal vm-user --scope read"
        ).strip().splitlines()[-1]
        assert get("/api/v1/me", f"-H 'Authorization: Bearer {token}'")["principal"]["name"] == "vm-user"

    machine.log(machine.succeed("systemd-analyze security flask-nix-stack.service"))
  '';
}
