"""The seed article's scenario (piranha.md §1) entered through the panels, checked with lvscf.load."""

from __future__ import annotations

import re

from piranha_web import lvscf

# §1.1/§2.6(a), with the article's addresses (the console does not send traffic anywhere).
EXPECTED = lvscf.load("""serial_no = 1
primary = 210.220.230.1
service = lvs
backup_active = 0
heartbeat = 1
heartbeat_port = 539
keepalive = 6
deadtime = 18
network = nat
nat_router = 192.168.1.10 eth1:1
nat_nmask = 255.255.255.0
debug_level = NONE
virtual www {
     active = 1
     address = 210.220.230.10 eth0:1
     vip_nmask = 255.255.255.0
     port = 80
     send = "GET / HTTP/1.0\\r\\n\\r\\n"
     expect = "HTTP"
     use_regex = 0
     load_monitor = none
     scheduler = rr
     protocol = tcp
     timeout = 6
     reentry = 15
     quiesce_server = 0
     server real {
         address = 192.168.1.1
         active = 1
         weight = 1
     }
     server real1 {
         address = 192.168.1.2
         active = 1
         weight = 1
     }
}
""")


def _row(console, path, name):
    html = console.get(path).get_data(as_text=True)
    return re.search(r'value="(\d+:\d+)" id="select-\d+" aria-label="select ' + name + '"', html).group(1)


def test_seed_article_configuration_through_the_panels(console, lvs_cf) -> None:
    # step 4: global settings (primary, NAT, NAT router on eth1:1)
    assert console.submit("/settings/", {"primary": "210.220.230.1", "network": "nat",
                                         "nat_router": "192.168.1.10", "nat_nmask": "255.255.255.0",
                                         "nat_router_device": "eth1:1"}).status_code == 302
    # one virtual server: VIP 210.220.230.10 on eth0:1, port 80, TCP, round robin
    response = console.submit("/virtual/new", {"name": "www", "address": "210.220.230.10", "device": "eth0:1",
                                               "vip_nmask": "255.255.255.0", "port": "80", "protocol": "tcp",
                                               "scheduler": "rr"})
    vid = int(re.search(r"/virtual/(\d+)/", response.headers["Location"]).group(1))
    # two real servers
    for name, address in (("real", "192.168.1.1"), ("real1", "192.168.1.2")):
        real = f"/virtual/{vid}/real/"
        assert console.submit(real + "new", {"name": name, "address": address}).status_code == 302
        console.post(real, {"action": "toggle", "selected": _row(console, real, name)})
    console.post("/virtual/", {"action": "toggle", "selected": _row(console, "/virtual/", "www")})

    cfg = lvscf.load(lvs_cf.read_text())
    assert cfg.serial_no == 7  # settings, virtual, 2 x (real + activate), virtual activate
    cfg.serial_no = EXPECTED.serial_no
    assert cfg == EXPECTED
    revisions = console.get("/revisions/").get_data(as_text=True)
    assert len(re.findall(r'id="revision-\d+"', revisions)) == 7
