"""ELBv2: CreateLoadBalancer and CreateListener are idempotent; one name has one load
balancer and one port one listener."""

from __future__ import annotations


def apply() -> None:
    from moto.elbv2 import models as elbv2
    from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName

    # AWS (ELBv2 API Reference, CreateLoadBalancer): "This operation is idempotent ... If
    # you attempt to create multiple load balancers with the same settings, each call
    # succeeds"; a name in use with other settings is DuplicateLoadBalancerName. moto keys
    # load balancers by an ARN with a fresh random id, so a retried create (its first reply
    # lost) made a second load balancer of the same name.
    create_load_balancer = elbv2.ELBv2Backend.create_load_balancer

    def create_load_balancer_once(self, name, *args, **kwargs):
        scheme = kwargs.get("scheme") or "internet-facing"
        kind = kwargs.get("loadbalancer_type") or "application"
        for balancer in self.load_balancers.values():
            if balancer.name == name:
                same = (balancer.scheme or "internet-facing") == scheme and (balancer.type or "application") == kind
                if same:
                    return balancer
                raise DuplicateLoadBalancerName()
        return create_load_balancer(self, name, *args, **kwargs)

    elbv2.ELBv2Backend.create_load_balancer = create_load_balancer_once

    # AWS (ELBv2 API Reference, CreateListener): "This operation is idempotent, which
    # means that it completes at most one time. If you attempt to create multiple listeners
    # with the same settings, each call succeeds"; a port in use with other settings is
    # DuplicateListener. moto compared the port with its listeners' ARNs, so a retried
    # create (its first reply lost) made a second listener on the same port.
    original = elbv2.ELBv2Backend.create_listener

    def create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs):
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None:
            for listener in balancer.listeners.values():
                if str(listener.port) == str(port):
                    if str(listener.protocol).upper() == str(protocol).upper():
                        return listener
                    raise DuplicateListenerError()
        return original(self, load_balancer_arn, protocol, port, *args, **kwargs)

    elbv2.ELBv2Backend.create_listener = create_listener
