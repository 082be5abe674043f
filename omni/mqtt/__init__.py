"""omni over MQTT: a smart-home node controlled and observed through the home's broker."""
