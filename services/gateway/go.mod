module example.com/platform/gateway

go 1.27
