module github.com/switchyard-ai/switchyard

go 1.26
