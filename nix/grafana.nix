# NixOS: the dashboard of contrib/grafana (installed by the package under
# share/codex-responses-proxy/grafana), provisioned into Grafana when
# `services.codex-responses-proxy.grafanaDashboard.enable` asks for it.
{ config, lib, ... }:

let
  cfg = config.services.codex-responses-proxy;
in
{
  config = lib.mkIf cfg.grafanaDashboard.enable {
    services.grafana.provision = {
      enable = lib.mkDefault true;
      dashboards.settings.providers = [
        {
          name = "codex-responses-proxy";
          options.path = "${cfg.package}/share/codex-responses-proxy/grafana";
        }
      ];
    };
  };
}
