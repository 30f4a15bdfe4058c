"""What an operator sees of the platform: logs, metrics and traces, hung on the flow's observers and the HTTP edge."""
