from twisted.application.service import ServiceMaker

netsentinel = ServiceMaker(
    "netsentinel", "netsentinel.tap",
    "Address monitor, health checks, traffic triggers and TCP forwarding in one daemon",
    "netsentinel")
