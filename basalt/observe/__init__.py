"""What an operator sees of the platform: metrics, traces and logs, hung on the flow's observers and the HTTP edge."""
